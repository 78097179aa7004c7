"""The use cases shared by the HTTP API and the CLI.

``runtime.Services`` wires settings, database and engine; ``series`` computes and stores a request
(reusing a stored series' dates) and extends a stored series; ``precompute`` makes the cloud
layers of stored scenes; ``ingest`` registers an archive's scenes.
"""

"""The engine: scenes + request -> a series of observations.

``engine`` (class ``Engine``) is the one series orchestrator; it takes the request's ``layout``
(grid, polygon pixels, cloud cells), reads each date with ``dates`` (tiles mosaicked through
``raster``, cloud mask from ``cloudlayers``/``layermosaic`` or the ``clouds`` model) and reduces
it with ``reductions``.
"""

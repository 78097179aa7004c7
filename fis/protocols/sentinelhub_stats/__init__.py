"""Sentinel Hub Statistical API compatibility: ``POST /api/v1/statistics`` with evalscripts.

Clients such as sentinelhub-py's ``SentinelHubStatistical`` and sentinelhub-js' ``StatisticalApi`` send
their requests here unchanged; the answer has the Statistical API's shape::

    {"data": [{"interval": {"from": ..., "to": ...},
               "outputs": {"<output id>": {"bands": {"B0": {"stats": {...}, "histogram": {...}}}}}},
              ...],
     "status": "OK" | "PARTIAL" | "FAILED"}

One module per concern:

* :mod:`.body`: the request body (pydantic models);
* :mod:`.translate`: a body into the one request model (:class:`fis.core.request.TimeseriesRequest`) plus what
  only this protocol has (:mod:`.query`: :class:`~.query.StatisticalQuery`, the calculations);
* :mod:`.intervals`: the aggregation intervals (``aggregationInterval.of``, ``lastIntervalBehavior``);
* :mod:`.inputs`: a date's pixels as evalscript inputs (bands, ``CLM``, ``CLP``, ``SCL``, ``dataMask``) and
  the SIMPLE mosaic of an interval;
* :mod:`.calculations`: statistics, percentiles and histograms of one output band;
* :mod:`.run`: the engine's dates grouped into intervals, evaluated in the sandbox and reduced;
* :mod:`.schemas`: the response models (OpenAPI).

The HTTP side (view, error shape, CORS) is ``fis.api.statistics``. What is supported and what is refused is
listed in docs/statistical-api.md.
"""

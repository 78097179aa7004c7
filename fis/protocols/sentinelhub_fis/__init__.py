"""Sentinel Hub FIS (Feature Info Service) compatibility: parameters, layers, statistics.

``GET|POST /ogc/fis`` (``fis.api.ogc``) answers the requests FIS clients such as
sentinelhub-py's ``FisRequest`` send, in the response shape of the real service::

    {"C0": [{"date": "2017-01-31",
             "basicStats": {"min": ..., "max": ..., "mean": ..., "stDev": ...},
             "histogram": {"bins": [...]}},          # only with BINS
            ...],                                     # dates newest first
     "C1": [...], ...}                                # the last channel is dataMask

The package is pure where it can be, one module per concern:

* :mod:`.parameters`: the query string and body (any key case) -> validated :class:`FisParameters`,
  and their translation into the one request model (:class:`fis.core.request.TimeseriesRequest`);
* :mod:`.layers`: the predefined layers, what each computes from one date's pixels;
* :mod:`.histograms`: the three histogram types (EQUALFREQUENCY, EQUIDISTANT, STREAMING);
* :mod:`.response`: one date's statistics, the response body, the OGC exception report;
* :mod:`.run`: a parsed request streamed through the engine's dates.

The HTTP side (the Flask view and its error handlers) lives in ``fis.api.ogc``.

Semantics (what differs from the real FIS is listed in the README, "FIS-compatible endpoint"):

* ``GEOMETRY`` is WKT. For a geographic CRS whose authority axis order is latitude first
  (``EPSG:4326``, as WCS 1.1.1 and FIS use it) the coordinates are read as lat/lon; ``CRS:84``
  and projected CRSs are read x/y. ``BBOX`` is ``minx,miny,maxx,maxy`` in the same axis order
  (``minlat,minlon,maxlat,maxlon`` for EPSG:4326).
* ``RESOLUTION`` is ``<n>m`` (metres) or a bare number in CRS units; degrees are turned into
  the side of a square pixel of the same area as an n x n degree cell at the centroid
  latitude (``n * 111320 * sqrt(cos(lat))`` metres).
* ``MAXCC`` (percent) drops dates whose cloud fraction inside the polygon (pixels flagged by
  the per-pixel cloud mask / pixels with data) is above it; a date whose cloud fraction is
  unknown is dropped unless ``MAXCC`` is 100.
* Statistics are over the layer's valid pixels (centre inside the polygon, data in the bands
  the layer uses, a finite value in every channel; clear pixels only for ``NDVI-CLEAR``).
  Channel values are float32 (FIS layers are 32-bit float output); ``min``/``max`` are those
  values, ``mean`` and ``stDev`` (population, ddof=0) are computed in float64.
  A date without valid pixels is left out of the response (FIS has no way to say "no data").
"""

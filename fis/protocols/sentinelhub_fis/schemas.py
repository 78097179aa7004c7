"""The FIS response body as models (``fis_response``). Descriptive (see :mod:`fis.protocols.schemas`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import ConfigDict, RootModel, StringConstraints

from fis.protocols.schemas import ResponseModel, only_when


class FisBasicStats(ResponseModel):
    """Over the valid pixels of the date; stDev is the population standard deviation."""

    min: float
    max: float
    mean: float
    stDev: float  # the FIS name


class FisEdgeBin(ResponseModel):
    """An EQUALFREQUENCY or EQUIDISTANT bin."""

    lowEdge: float  # the FIS name
    mean: float
    count: float


class FisStreamingBin(ResponseModel):
    """A STREAMING bin: a centroid."""

    value: float
    count: float


class FisHistogram(ResponseModel):
    """The histogram of one channel (only with BINS)."""

    bins: list[FisEdgeBin | FisStreamingBin]


class FisEntry(ResponseModel):
    """One date of one channel."""

    date: dt.date
    basicStats: FisBasicStats  # the FIS name
    histogram: FisHistogram = only_when("Only with BINS.")


class FisResponse(RootModel[dict[Annotated[str, StringConstraints(pattern="^C[0-9]+$")], list[FisEntry]]]):
    """One key per channel, C0..Cn (the last one is dataMask); each a list of dates, newest first."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

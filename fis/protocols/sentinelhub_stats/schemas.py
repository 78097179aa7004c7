"""The Statistical API response body as models (OpenAPI). Descriptive (see :mod:`fis.protocols.schemas`)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from fis.protocols.schemas import ResponseModel, only_when

#: A statistic: a number, or the string "NaN" when the band has no valid values (as Sentinel Hub answers).
Statistic = float | Literal["NaN"]


class StatisticalStats(ResponseModel):
    """Over the band's valid values; stDev is the population standard deviation."""

    min: Statistic
    max: Statistic
    mean: Statistic
    stDev: Statistic  # the Statistical API's names
    sampleCount: int = Field(description="Pixels of the bounding raster of the area.")
    noDataCount: int = Field(description="Pixels outside the polygon, masked by dataMask, or not finite.")
    percentiles: dict[str, Statistic] = only_when('Only when requested; keys are percents such as "50.0".')


class StatisticalBin(ResponseModel):
    lowEdge: float
    highEdge: float
    count: int


class StatisticalHistogram(ResponseModel):
    """Bins hold lowEdge <= v < highEdge (the last one also v == highEdge)."""

    bins: list[StatisticalBin]
    overflow: int
    underflow: int


class StatisticalBand(ResponseModel):
    stats: StatisticalStats
    histogram: StatisticalHistogram = only_when("Only when requested in calculations.")


class StatisticalOutput(ResponseModel):
    bands: dict[str, StatisticalBand] = Field(description="Per band name (B0, B1 ... unless setup() names them).")


class StatisticalInterval(ResponseModel):
    from_: str = Field(alias="from")
    to: str

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StatisticalIntervalError(ResponseModel):
    type: Literal["BAD_REQUEST", "EXECUTION_ERROR", "TIMEOUT"] = Field(
        description="BAD_REQUEST: the script threw; EXECUTION_ERROR and TIMEOUT are worth a retry."
    )
    message: str


class StatisticalEntry(ResponseModel):
    """One interval that has acquisitions: its outputs, or why it failed."""

    interval: StatisticalInterval
    outputs: dict[str, StatisticalOutput] = only_when("Per output id of the evalscript (not dataMask).")
    error: StatisticalIntervalError = only_when("Only for a failed interval.")


class StatisticalResponse(ResponseModel):
    """The answer of POST /api/v1/statistics, in Sentinel Hub's shape."""

    data: list[StatisticalEntry]
    status: Literal["OK", "PARTIAL", "FAILED"]


class StatisticalErrorBody(ResponseModel):
    status: int
    reason: str
    message: str
    code: str = Field(description="COMMON_BAD_PAYLOAD, RENDERER_EXCEPTION, COMMON_UNAUTHORIZED, ...")
    errors: dict[str, str] = only_when('The offending key, when known: {"field": "aggregation.evalscript"}.')


class StatisticalError(ResponseModel):
    """A request error in Sentinel Hub's shape."""

    error: StatisticalErrorBody

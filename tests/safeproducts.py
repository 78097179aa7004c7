"""Minimal but structurally real Sentinel-2 SAFE products, written at test time.

Layout (modelled on the real MTD files in ../shared/data/metadata and GDAL's fake SAFE products)::

    S2A_MSIL1C_<t>_N0509_R022_T33TWN_<t>.SAFE/
        MTD_MSIL1C.xml                       product metadata: baseline, QUANTIFICATION_VALUE,
                                             RADIO_ADD_OFFSET per band (>= 04.00), footprint, IMAGE_FILE list
        GRANULE/L1C_T33TWN_A000001_<t>/
            MTD_TL.xml                       HORIZONTAL_CS_CODE, SENSING_TIME, Geoposition
            IMG_DATA/T33TWN_<t>_B01.jp2 ...  one lossless JPEG 2000 per band at its native resolution

    S2A_MSIL2A_..._.SAFE/                    L2A: MTD_MSIL2A.xml (BOA_QUANTIFICATION_VALUE, BOA_ADD_OFFSET)
        GRANULE/L2A_.../IMG_DATA/R10m/T.._B02_10m.jp2, R20m/T.._B05_20m.jp2 (and resampled copies of the
        10 m bands), R60m/..., R20m/T.._SCL_20m.jp2

The resampled copies in an L2A product (e.g. ``R20m/.._B04_20m``) deliberately hold *other*
values than the native file, so a reader that picks the wrong resolution gets different means.
Band files are JPEG 2000 (GDAL's JP2OpenJPEG, lossless) when the driver is present, else GeoTIFF
(``imageFormat="GeoTIFF"`` in the metadata, as on some real L2A products).
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from pyproj import Transformer

from fis.core.bands import BANDS, NATIVE_RESOLUTION

UTC = dt.UTC
X0, Y0 = 500000.0, 5000000.0
SIZE_M = 120.0  # 12 x 12 at 10 m, 6 x 6 at 20 m, 2 x 2 at 60 m
CRS = "EPSG:32633"
WHEN = dt.datetime(2023, 6, 1, 10, 0, 31, tzinfo=UTC)
L2A_BANDS = tuple(b for b in BANDS if b != "B10")


def jp2_available() -> bool:
    with rasterio.Env() as env:
        return "JP2OpenJPEG" in env.drivers()


def reflectance_grid(value: float, band: str, *, gradient: float = 0.0) -> np.ndarray:
    """A band at its native resolution over the product extent: ``value + gradient * (row*cols + col)``.

    Values are multiples of 1e-4 (exact in DN) when ``value`` and ``gradient`` are.
    """
    n = int(round(SIZE_M / NATIVE_RESOLUTION[band]))
    index = np.arange(n * n, dtype=np.float64).reshape(n, n)
    return np.round(value + gradient * index, 4)


def dn_of(reflectance: np.ndarray, offset_dn: int, quantification: int = 10000) -> np.ndarray:
    """``DN = reflectance * Q - ADD_OFFSET`` (the inverse of ``(DN + ADD_OFFSET) / Q``); NaN -> 0 (no data)."""
    refl = np.asarray(reflectance, dtype=np.float64)
    nan = np.isnan(refl)
    dn = np.rint(np.where(nan, 0.0, refl) * quantification) - offset_dn
    dn = np.clip(dn, 1, 65534).astype(np.uint16)
    dn[nan] = 0
    return dn


def _write_raster(path_stem: Path, dn: np.ndarray, resolution: float, *, jp2: bool, crs: str = CRS) -> Path:
    from affine import Affine

    path = path_stem.with_name(path_stem.name + (".jp2" if jp2 else ".tif"))
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "width": dn.shape[1], "height": dn.shape[0], "count": 1, "dtype": dn.dtype.name, "crs": crs,
        "transform": Affine(resolution, 0, X0, 0, -resolution, Y0),
    }
    if jp2:
        profile.update(driver="JP2OpenJPEG", QUALITY=100, REVERSIBLE="YES")
    else:
        profile.update(driver="GTiff")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dn, 1)
    return path


def _footprint_pos_list(crs: str = CRS) -> str:
    """EXT_POS_LIST of the product extent: *lat lon* pairs, closed ring (as ESA writes it)."""
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    corners = [(X0, Y0), (X0 + SIZE_M, Y0), (X0 + SIZE_M, Y0 - SIZE_M), (X0, Y0 - SIZE_M), (X0, Y0)]
    pairs = []
    for x, y in corners:
        lon, lat = to_lonlat.transform(x, y)
        pairs.append(f"{lat!r} {lon!r}")
    return " ".join(pairs) + " "


def write_safe(
    out_dir: Path,
    reflectance: Mapping[str, np.ndarray | float],
    *,
    level: str = "L1C",
    baseline: str = "05.09",
    when: dt.datetime = WHEN,
    tile: str = "33TWN",
    spacecraft: str = "Sentinel-2A",
    relative_orbit: int = 22,
    offset_dn: int | None = None,
    write_offset_list: bool | None = None,
    quantification: int = 10000,
    scl: np.ndarray | None = None,
    jp2: bool | None = None,
    name_suffix: str = "",
) -> Path:
    """Write one SAFE product; return its ``.SAFE`` directory.

    ``reflectance`` maps band -> array at the band's native resolution (or a float, uniform).
    ``offset_dn`` defaults to -1000 from baseline 04.00 on; ``write_offset_list`` (default: when
    the offset is non-zero) controls whether RADIO_ADD_OFFSET / BOA_ADD_OFFSET is written.
    """
    jp2 = jp2_available() if jp2 is None else jp2
    major_minor = tuple(int(p) for p in baseline.split("."))
    if offset_dn is None:
        offset_dn = -1000 if major_minor >= (4, 0) else 0
    if write_offset_list is None:
        write_offset_list = offset_dn != 0
    t = when.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    sat = spacecraft[-1].upper()
    nbase = baseline.replace(".", "")
    level_code = "1C" if level == "L1C" else "2A"
    product = f"S2{sat}_MSIL{level_code}_{t}_N{nbase}_R{relative_orbit:03d}_T{tile}_{t}{name_suffix}"
    safe = Path(out_dir) / f"{product}.SAFE"
    granule = f"{level}_T{tile}_A000001_{t}"
    img = safe / "GRANULE" / granule / "IMG_DATA"
    bands = BANDS if level == "L1C" else L2A_BANDS
    image_files: list[str] = []

    def grid(band: str) -> np.ndarray:
        value = reflectance[band]
        return np.asarray(value, dtype=np.float64) if not np.isscalar(value) else reflectance_grid(float(value), band)

    if level == "L1C":
        for band in bands:
            stem = f"GRANULE/{granule}/IMG_DATA/T{tile}_{t}_{band}"
            _write_raster(safe / stem, dn_of(grid(band), offset_dn, quantification), NATIVE_RESOLUTION[band], jp2=jp2)
            image_files.append(stem)
    else:
        for res in (10, 20, 60):
            for band in bands:
                native = NATIVE_RESOLUTION[band]
                if res < native or (res == 10 and native != 10):
                    continue  # as ESA: 10 m folder holds the 10 m bands, 20/60 m hold every coarser-or-equal band
                stem = f"GRANULE/{granule}/IMG_DATA/R{res}m/T{tile}_{t}_{band}_{res}m"
                data = grid(band)
                if res != native:
                    # a resampled copy with deliberately different values: block mean + 0.05
                    k = res // native
                    data = data.reshape(data.shape[0] // k, k, data.shape[1] // k, k).mean(axis=(1, 3)) + 0.05
                _write_raster(safe / stem, dn_of(data, offset_dn, quantification), res, jp2=jp2)
                image_files.append(stem)
            if res in (20, 60):
                stem = f"GRANULE/{granule}/IMG_DATA/R{res}m/T{tile}_{t}_SCL_{res}m"
                classes = scl if scl is not None else np.full((6, 6), 4, dtype=np.uint8)  # 4 = vegetation
                classes = np.asarray(classes, dtype=np.uint8)
                if res == 60:
                    classes = classes[::3, ::3]
                _write_raster(safe / stem, classes, res, jp2=jp2)
                image_files.append(stem)

    (safe / f"MTD_MSIL{level_code}.xml").write_text(
        _product_mtd(
            level=level, product=product, baseline=baseline, when=when, spacecraft=spacecraft,
            relative_orbit=relative_orbit, tile=tile, granule=granule, image_files=image_files,
            offsets={b: offset_dn for b in BANDS} if write_offset_list else None,
            quantification=quantification, image_format="JPEG2000" if jp2 else "GeoTIFF",
        ),
        encoding="utf-8",
    )
    (safe / "GRANULE" / granule / "MTD_TL.xml").write_text(_tile_mtd(level, tile, when, baseline), encoding="utf-8")
    (safe / "manifest.safe").write_text("<xfdu:XFDU xmlns:xfdu=\"urn:ccsds:schema:xfdu:1\"/>\n", encoding="utf-8")
    assert img.is_dir()
    return safe


def zip_safe(safe: Path, zip_path: Path | None = None) -> Path:
    """Zip a SAFE directory as ESA distributes it: ``<product>.SAFE/...`` inside ``<product>.zip``."""
    zip_path = zip_path or safe.with_suffix(".zip")
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(safe.rglob("*")):
            archive.write(path, path.relative_to(safe.parent).as_posix())
    return zip_path


def copy_safe(safe: Path, target_dir: Path) -> Path:
    target = Path(target_dir) / safe.name
    shutil.copytree(safe, target)
    return target


def _product_mtd(
    *, level: str, product: str, baseline: str, when: dt.datetime, spacecraft: str, relative_orbit: int,
    tile: str, granule: str, image_files: list[str], offsets: dict[str, int] | None, quantification: int,
    image_format: str,
) -> str:
    start = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.024Z")
    code = "1C" if level == "L1C" else "2A"
    ns = f"https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-{code[0]}{code[1]}.xsd"
    files = "\n".join(f"            <IMAGE_FILE>{escape(f)}</IMAGE_FILE>" for f in image_files)
    if level == "L1C":
        quant = f'      <QUANTIFICATION_VALUE unit="none">{quantification}</QUANTIFICATION_VALUE>'
        offset_block = ""
        if offsets is not None:
            rows = "\n".join(f'        <RADIO_ADD_OFFSET band_id="{i}">{offsets[b]}</RADIO_ADD_OFFSET>' for i, b in enumerate(BANDS))
            offset_block = f"      <Radiometric_Offset_List>\n{rows}\n      </Radiometric_Offset_List>"
    else:
        quant = (
            "      <QUANTIFICATION_VALUES_LIST>\n"
            f'        <BOA_QUANTIFICATION_VALUE unit="none">{quantification}</BOA_QUANTIFICATION_VALUE>\n'
            '        <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>\n'
            '        <WVP_QUANTIFICATION_VALUE unit="cm">1000.0</WVP_QUANTIFICATION_VALUE>\n'
            "      </QUANTIFICATION_VALUES_LIST>"
        )
        offset_block = ""
        if offsets is not None:
            rows = "\n".join(f'        <BOA_ADD_OFFSET band_id="{i}">{offsets[b]}</BOA_ADD_OFFSET>' for i, b in enumerate(BANDS))
            offset_block = f"      <BOA_ADD_OFFSET_VALUES_LIST>\n{rows}\n      </BOA_ADD_OFFSET_VALUES_LIST>"
    sat = spacecraft[-1].upper()
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-{code[0]}{code[1]}_User_Product xmlns:n1="{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>{start}</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>{start}</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{product}.SAFE</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-{code}</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI{code}</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <GENERATION_TIME>{start}</GENERATION_TIME>
      <Datatake datatakeIdentifier="GS2{sat}_{when.strftime('%Y%m%dT%H%M%S')}_000001_N{baseline}">
        <SPACECRAFT_NAME>{spacecraft}</SPACECRAFT_NAME>
        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
        <DATATAKE_SENSING_START>{start}</DATATAKE_SENSING_START>
        <SENSING_ORBIT_NUMBER>{relative_orbit}</SENSING_ORBIT_NUMBER>
        <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
      </Datatake>
      <Query_Options completeSingleTile="true"><PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT></Query_Options>
      <Product_Organisation>
        <Granule_List>
          <Granule datastripIdentifier="S2{sat}_OPER_MSI_L{code}_DS_TEST_{when.strftime('%Y%m%dT%H%M%S')}_N{baseline}" granuleIdentifier="S2{sat}_OPER_MSI_L{code}_TL_TEST_{when.strftime('%Y%m%dT%H%M%S')}_A000001_T{tile}_N{baseline}" imageFormat="{image_format}">
{files}
          </Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
      <Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>
{quant}
{offset_block}
    </Product_Image_Characteristics>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Product_Footprint>
      <Product_Footprint>
        <Global_Footprint>
          <EXT_POS_LIST>{_footprint_pos_list()}</EXT_POS_LIST>
        </Global_Footprint>
      </Product_Footprint>
      <RASTER_CS_TYPE>POINT</RASTER_CS_TYPE>
      <PIXEL_ORIGIN>1</PIXEL_ORIGIN>
    </Product_Footprint>
    <Coordinate_Reference_System>
      <GEO_TABLES version="1">EPSG</GEO_TABLES>
      <HORIZONTAL_CS_TYPE>GEOGRAPHIC</HORIZONTAL_CS_TYPE>
    </Coordinate_Reference_System>
  </n1:Geometric_Info>
  <n1:Quality_Indicators_Info>
    <Cloud_Coverage_Assessment>1.5</Cloud_Coverage_Assessment>
  </n1:Quality_Indicators_Info>
</n1:Level-{code[0]}{code[1]}_User_Product>
"""


def _tile_mtd(level: str, tile: str, when: dt.datetime, baseline: str) -> str:
    code = "1C" if level == "L1C" else "2A"
    sensing = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    geo = "\n".join(
        f'      <Size resolution="{r}"><NROWS>{int(SIZE_M // r)}</NROWS><NCOLS>{int(SIZE_M // r)}</NCOLS></Size>'
        for r in (10, 20, 60)
    ) + "\n" + "\n".join(
        f'      <Geoposition resolution="{r}"><ULX>{X0:.0f}</ULX><ULY>{Y0:.0f}</ULY><XDIM>{r}</XDIM><YDIM>-{r}</YDIM></Geoposition>'
        for r in (10, 20, 60)
    )
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-{code}_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-{code}_Tile_Metadata.xsd">
  <n1:General_Info>
    <TILE_ID metadataLevel="Brief">S2A_OPER_MSI_L{code}_TL_TEST_{when.strftime('%Y%m%dT%H%M%S')}_A000001_T{tile}_N{baseline}</TILE_ID>
    <SENSING_TIME metadataLevel="Standard">{sensing}</SENSING_TIME>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>WGS84 / UTM zone 33N</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>{CRS}</HORIZONTAL_CS_CODE>
{geo}
    </Tile_Geocoding>
  </n1:Geometric_Info>
</n1:Level-{code}_Tile_ID>
"""

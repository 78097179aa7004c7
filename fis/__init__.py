"""fis: self-hosted statistical time series for Sentinel-2 (cloud-aware NDVI per field polygon)."""

__version__ = "0.1.0"

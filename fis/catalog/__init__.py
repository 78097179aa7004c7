"""The archive catalog: reading STAC sources into scene records and registering them."""

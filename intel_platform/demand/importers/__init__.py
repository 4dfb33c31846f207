"""Importers: land a user's own sales history (M5 layout or any long daily table) as demand data.

The platform reads only the landing zone, so real data runs through the same assets as the demo
once written in the source shapes of ``demand/landing.py``: POS files per store and day plus the
product and store catalogs (ecom and inventory are optional downstream). A missing row means "not
launched yet / unknown", never zero demand: rows start at an item's launch, later zeros are kept.
A landing zone already holding another data set is refused: mixing two would corrupt every model.

``common`` holds the summary and the landing writers both importers share, ``m5`` the M5
(Walmart) layout, ``long`` any long daily table; the public names are re-exported here.
"""

__all__ = ["ImportSummary", "events_file", "import_long", "import_m5"]

from intel_platform.demand.importers.common import ImportSummary, events_file
from intel_platform.demand.importers.long import import_long
from intel_platform.demand.importers.m5 import import_m5

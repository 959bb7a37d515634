"""Services: the logic between the web layer and the data layer, external systems and media."""

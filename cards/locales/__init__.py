"""Message catalogs, one JSON file per language (a package so they ship as package data)."""

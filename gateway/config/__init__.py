"""Site configuration: the YAML site file, validated (see README "Configuration")."""

from drivers.yamldoc import ConfigError, Problem
from gateway.config.loader import Site, SiteFile, load_site

__all__ = ["ConfigError", "Problem", "Site", "SiteFile", "load_site"]

"""The registry's settings, with the web benchmark's floor pages added to its URLs (floor_urls)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "floor_urls"

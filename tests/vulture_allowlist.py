"""Names vulture would call unused that an interface requires us to accept.

pydantic-settings calls ``settings_customise_sources`` with every source by keyword, used or not;
``__aexit__`` receives the exception triple whether it looks at it or not.
"""

dotenv_settings = file_secret_settings = exc_type = tb = None
REQUIRED_BY_INTERFACES = (dotenv_settings, file_secret_settings, exc_type, tb)

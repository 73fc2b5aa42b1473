"""The plugin's own tests run with the installed package (entry point `pytest11`, as a user
gets it) and pytester for the runs that check what a user's test file sees."""
pytest_plugins = ["pytester"]

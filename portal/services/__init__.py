"""Domain rules shared by the HTML and JSON faces."""

"""Entry point for gunicorn and `flask --app wsgi`: reads .env, builds the app."""

from dotenv import load_dotenv

load_dotenv()

from portal import create_app  # noqa: E402

app = create_app()

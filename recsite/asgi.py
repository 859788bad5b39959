import os

from django.core.asgi import get_asgi_application

from recsite.web_process import configure_web_process

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")
configure_web_process()
application = get_asgi_application()

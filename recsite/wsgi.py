import os

from django.core.wsgi import get_wsgi_application

from recsite.web_process import configure_web_process

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")
configure_web_process()
application = get_wsgi_application()

import os

from django.core.wsgi import get_wsgi_application

from recsite.web_process import prepare_web_process

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")
application = get_wsgi_application()
prepare_web_process()

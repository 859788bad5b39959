from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("recommender.api.urls")),
    path("", include("recommender.web.urls")),
]

# A 500 under /api/ is JSON like every other API error; the site keeps its HTML page.
handler500 = "recommender.api.errors.server_error"

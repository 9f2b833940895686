from django.urls import path, re_path

from . import views

# Unknown paths and unexpected failures answer in the envelope too, never an HTML page.
handler404 = f"{__package__}.views.not_found"
handler500 = f"{__package__}.views.server_error"

urlpatterns = [
    path("health", views.HealthView.as_view()),
    path("get_system_stats", views.SystemStatsView.as_view()),
    path("api/folders", views.FolderListView.as_view()),
    path("api/folders/<str:name>", views.FolderDetailView.as_view()),
    path("api/folders/<str:name>/archive", views.FolderArchiveView.as_view()),
    path("api/containers", views.ContainerListView.as_view()),
    re_path(
        r"^api/containers/(?P<ident>[^/]+)/(?P<action>start|stop|restart|delete)$",
        views.ContainerActionView.as_view(),
    ),
    path("api/containers/<str:ident>", views.ContainerDetailView.as_view()),
    path("api/containers/<str:ident>/ports", views.ContainerPortsView.as_view()),
    path("api/containers/<str:ident>/logs", views.ContainerLogsView.as_view()),
    path("api/containers/<str:ident>/stats", views.ContainerStatsView.as_view()),
    path("api/images", views.ImageListView.as_view()),
    path("api/images/pull", views.ImagePullView.as_view()),
    path("api/images/push", views.ImagePushView.as_view()),
    path("api/images/build", views.ImageBuildView.as_view()),
    path("api/images/import", views.ImageImportView.as_view()),
    # An image is named by id or by reference, which may hold '/' (registry:5000/team/ide:1.0).
    path("api/images/<path:ident>", views.ImageDetailView.as_view()),
]

"""Serving item images: only through views that checked membership first."""

from __future__ import annotations

from pathlib import PurePosixPath

from django.http import FileResponse, Http404

from projects import item_images
from projects.models import Item, Project

CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


def item_image_response(project: Project, item_id: int, *, thumbnail: bool) -> FileResponse:
    item = Item.objects.filter(project=project, pk=item_id).exclude(image="").first()
    if item is None:
        raise Http404("No such image in this project.")
    names = [item_images.thumbnail_of(item.image), item.image] if thumbnail else [item.image]
    for name in names:  # an image whose thumbnail is not made yet is served itself
        try:
            handle = item_images.image_handle(name)
        except FileNotFoundError:
            continue
        suffix = PurePosixPath(name).suffix.lower()
        response = FileResponse(handle, content_type=CONTENT_TYPES.get(suffix))
        break
    else:
        raise Http404("The image file is missing.")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response

"""The guidelines page: a lead writes the guidelines and gives each label a key and a
description (the settings whose page is `guidelines` in the settings schema)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from projects import services
from projects.access import LEAD_ONLY, project_for_member
from projects.forms import GuidelinesForm
from projects.guidelines import markdown_html
from projects.label_keys import DEFAULT_KEYS, RESERVED
from winnow.http import AuthedHttpRequest


@login_required
@require_http_methods(["GET", "POST"])
def project_guidelines(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, role = project_for_member(request.user, project_id, LEAD_ONLY)
    form = GuidelinesForm(
        request.POST or None,
        labels=list(project.labels),
        initial=GuidelinesForm.initial_for(project),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(project=project, **form.cleaned_data)
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, "Guidelines and label keys saved.")
            return redirect("project-guidelines", project.pk)
    context = {
        "project": project,
        "role": role,
        "form": form,
        "preview": markdown_html(project.guidelines or ""),
        "reserved": sorted(RESERVED - {" "}),
        "default_keys": DEFAULT_KEYS,
    }
    return render(request, "projects/guidelines.html", context)

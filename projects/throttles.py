"""How fast a project lead who is not staff may add members.

Adding a member by name necessarily tells the lead whether that name can be added:
anyone signed in may create a project and so become a lead, which would make the
members form a way to list the site's user names. Every refusal gets one neutral
message (`services.membership_add`), and this bounds how many names a lead can try.
Staff manage users anyway and are not limited. Counts live in Django's cache: shared
by every web process with WINNOW_CACHE_URL, else each process's own.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class MemberAddThrottle(SimpleRateThrottle):
    scope = "member-add"

    def get_rate(self) -> str:
        # Read at call time (not DRF's import-time copy) so the setting is the one in force.
        return f"{settings.WINNOW_MEMBER_ADDS_PER_HOUR}/hour"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        user = request.user
        if request.method != "POST" or not user.is_authenticated or user.is_staff:
            return None  # not limited
        return self.cache_format % {"scope": self.scope, "ident": user.pk}


def member_add_allowed(request: Any) -> bool:
    """For the members page (a Django view): the same count as the API's."""
    # No DRF view here, and the key (get_cache_key) does not use one.
    return MemberAddThrottle().allow_request(request, None)  # type: ignore[arg-type]

"""The operators' dashboard at /dashboard: server-rendered pages, inline SVG charts and a few
lines of script that refresh sections; see docs/dashboard.md."""

from fastapi import APIRouter

from smsrelay.web.dashboard import actions, autopilot, pages, template_pages, usage, webhooks

router = APIRouter()
router.include_router(pages.router)
router.include_router(actions.router)
router.include_router(template_pages.router)
router.include_router(autopilot.router)
router.include_router(webhooks.router)
router.include_router(usage.router)

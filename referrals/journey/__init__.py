"""The partner's nomination journey: question pages, drafts, submission, "Your nominations".

The blueprint is ``referrals.journey.views.bp`` (``nominations``, under ``/nominations``); the public
service functions are in ``referrals.journey.service``.
"""

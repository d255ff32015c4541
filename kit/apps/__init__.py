"""The served apps: access keys, invitations, the group dashboard, the survey form, `kit serve`.

``notebooks/group_dashboard.ipynb`` is a thin view over ``kit.apps.dashboard``; ``kit.apps.server``
runs it under Voilà. The online survey needs no kernel: ``kit.apps.survey_server`` serves it as
plain pages (``kit.apps.survey``, ``survey_static/``) inside ``kit serve``.
"""

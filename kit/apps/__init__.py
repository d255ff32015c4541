"""The served apps: access keys, invitations, the group dashboard, the survey form, `kit serve`.

Notebooks ``notebooks/group_dashboard.ipynb`` and ``notebooks/survey.ipynb`` are thin views over
``kit.apps.dashboard`` and ``kit.apps.survey``; ``kit.apps.server`` runs them under Voilà.
"""

"""Alerts that reach a person: the `alert.*` events of the alerts stream sent to ALERT_URLS
(apprise: Slack, Telegram, e-mail, webhooks ...), once per cause per window, off the quote loop.
"""

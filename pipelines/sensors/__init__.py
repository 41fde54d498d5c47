"""pipelines/sensors"""

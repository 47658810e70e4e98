"""Health of a process: 0-100 scores from live probes and alerts with hysteresis (:mod:`.monitor`),
the probes every process has (:mod:`.probes`), and the one endpoint every component serves
(:mod:`.endpoint`). It knows no component: components add their probes to ``services.probes``.
"""

"""Route planning for door-to-door collection: plain Python on OR-Tools, shapely and numpy.

Build a ``ProblemData`` (directly, or from a day file with ``routing.dayfile.load_day``), call
``plan`` and check anything with ``evaluate``. Nothing here imports the web server.
"""

from routing.evaluate import Evaluation, evaluate
from routing.model import Break, CollectorShift, ProblemData, Route, Solution, Visit
from routing.solver import PlanResult, Progress, SolveParams, plan

__all__ = [
    "Break",
    "CollectorShift",
    "Evaluation",
    "PlanResult",
    "ProblemData",
    "Progress",
    "Route",
    "Solution",
    "SolveParams",
    "Visit",
    "evaluate",
    "plan",
]

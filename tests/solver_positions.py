"""Positions with published scores, in Pascal Pons' notation (1-based columns, his scores).

Scores are for the side to move: 0 a draw, ``22 - k`` a win with one's own ``k``-th stone,
negative for a loss.  Sources: Pons' tutorial (http://blog.gamesolver.org: the position after
``4455`` scores 18 (the side to move wins with its 4th stone), after ``44455554221`` -15) and
the first lines of his ``Test_L3_R1`` benchmark set ("end-easy", scores computed by his C++
solver); ``43745416472735`` is quoted from a middle-game test set.
"""

from __future__ import annotations

from typing import Final

KNOWN_SCORES: Final[tuple[tuple[str, int], ...]] = (
    ("4455", 18),
    ("44455554221", -15),
    ("43745416472735", -13),
    ("2252576253462244111563365343671351441", -1),
    ("7422341735647741166133573473242566", 1),
    ("23163416124767223154467471272416755633", 0),
    ("71255763773133525731261364622167124446454", 0),
    ("65214673556155731566316327373221417", -1),
    ("52677675164321472411331752454", 0),
    ("3135151421347443544172316522225776773566", 0),
    ("562154564361751726662253737734213275114", 0),
    ("233377345754465174223731671122611552", 1),
    ("6763525635134453444361412671365712", -1),
    ("211376455663355325112113664364524722", 0),
    ("3146762114467714356347741621375222", -1),
    ("67152117737262713366376314254", 6),
    ("2762751722231276466633475674533", 5),
    ("3642756176227637211322113551637574556", 2),
    ("22647455554314246733661634615122372377511", 0),
    ("427566236745127177115664464254", 2),
    ("7172212567451542223676134464437761515", 0),
    ("641154574541323641152467137655232232366", 0),
    ("5775265212657176476365522624313714333", 2),
    ("3575316255751336464276636772271112", -3),
)


def columns(text: str) -> list[int]:
    """Pons' 1-based digits as the protocol's 0-based columns."""
    return [int(ch) - 1 for ch in text]

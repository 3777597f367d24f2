"""A person at the Connect Four page: one browser context, one tab.

``Player`` only does what a person can do (type, click, press keys) and reads what a
person can see; it knows the page's element ids so the tests read like the scenario.
Each method that changes something waits until the page shows the change, so tests
never sleep.
"""

from __future__ import annotations

import re
from typing import Final

from playwright.sync_api import BrowserContext, Locator, Page, expect

ROWS: Final = 6
COLS: Final = 7


class Player:
    """One person in their own browser context (own cookies and sessionStorage)."""

    def __init__(self, context: BrowserContext, page: Page, name: str, url: str) -> None:
        self.context = context
        self.page = page
        self.name = name
        """The name this person means to play under (``join`` types it)."""
        self.url = url

    def __repr__(self) -> str:
        return f"Player({self.name!r})"

    # ----------------------------------------------------------------- what is on screen

    def by_id(self, element_id: str) -> Locator:
        return self.page.locator(f"#{element_id}")

    @property
    def greeting(self) -> Locator:
        return self.by_id("greeting")

    @property
    def notice(self) -> Locator:
        return self.by_id("notice")

    @property
    def name_input(self) -> Locator:
        return self.page.get_by_label("Your name")

    @property
    def play_button(self) -> Locator:
        return self.page.get_by_role("button", name="Play", exact=True)

    @property
    def name_error(self) -> Locator:
        return self.by_id("name-error")

    @property
    def lobby(self) -> Locator:
        return self.by_id("lobby")

    @property
    def game(self) -> Locator:
        return self.by_id("game")

    @property
    def board(self) -> Locator:
        return self.by_id("board")

    @property
    def turn(self) -> Locator:
        return self.by_id("turn")

    @property
    def game_message(self) -> Locator:
        return self.by_id("game-message")

    @property
    def result(self) -> Locator:
        return self.by_id("result")

    @property
    def opponent_banner(self) -> Locator:
        return self.by_id("opponent-banner")

    @property
    def connection_banner(self) -> Locator:
        return self.by_id("connection-banner")

    @property
    def online_count(self) -> Locator:
        """The lobby's count line, e.g. "3 online · showing 2"."""
        return self.by_id("online-count")

    @property
    def user_rows(self) -> Locator:
        """Every row of the lobby table, mine included."""
        return self.page.locator("#user-table tbody tr")

    @property
    def challenge_name_input(self) -> Locator:
        return self.page.get_by_label("Challenge by name")

    @property
    def challenge_name_button(self) -> Locator:
        return self.by_id("challenge-form").get_by_role("button", name="Challenge", exact=True)

    @property
    def challenge_name_error(self) -> Locator:
        return self.by_id("challenge-error")

    def row(self, who: Player | str) -> Locator:
        """The lobby table row of ``who``."""
        return self.page.locator(f'#user-table tr[data-user="{_name(who)}"]')

    def incoming(self, who: Player | str) -> Locator:
        """The invitation from ``who``, as shown in the invitations panel."""
        return self.page.locator(f'#invitations li[data-from="{_name(who)}"]')

    def outgoing(self, who: Player | str) -> Locator:
        return self.page.locator(f'#invitations li[data-to="{_name(who)}"]')

    def cell(self, row: int, col: int) -> Locator:
        return self.page.locator(f'#board .cell[data-row="{row}"][data-col="{col}"]')

    @property
    def filled_cells(self) -> Locator:
        return self.page.locator("#board .cell.filled")

    @property
    def winning_cells(self) -> Locator:
        return self.page.locator("#board .cell.win")

    def board_rows(self, board_id: str = "board") -> list[str]:
        """The board as the page draws it, in the protocol's notation: 6 strings of 7,
        top row first, ``.`` empty, ``1`` / ``2`` a token of player 1 / 2.

        ``board_id`` picks another board drawn the same way (the replay's).
        """
        cells = self.by_id(board_id).locator(".cell .token")
        tokens: list[str] = cells.evaluate_all(
            """tokens => tokens.map(t =>
                t.classList.contains("p1") ? "1" : t.classList.contains("p2") ? "2" : ".")"""
        )
        assert len(tokens) == ROWS * COLS, f"the board has {len(tokens)} cells"
        return ["".join(tokens[r * COLS : (r + 1) * COLS]) for r in range(ROWS)]

    # ----------------------------------------------------------------- what a person does

    def open(self) -> None:
        self.page.goto(self.url)
        expect(self.page).to_have_title("c4actors — Connect Four")

    def submit_name(self, name: str) -> None:
        """Type ``name`` into the form and press Play (whatever the outcome)."""
        self.name_input.fill(name)
        self.play_button.click()

    def join(self, name: str | None = None) -> None:
        """Pick a name and wait for the lobby, greeted by name."""
        if name is not None:
            self.name = name
        expect(self.name_input).to_be_visible()
        self.submit_name(self.name)
        expect(self.greeting).to_have_text(f"Hello {self.name}")
        expect(self.lobby).to_be_visible()
        expect(self.row(self)).to_contain_text(f"{self.name} (you)")

    def challenge(self, other: Player) -> None:
        self.page.get_by_role("button", name=f"Challenge {other.name}", exact=True).click()
        expect(self.outgoing(other)).to_contain_text(f"Waiting for {other.name}…")

    def challenge_by_name(self, name: str) -> None:
        """Type ``name`` into the challenge-by-name form and submit it (whatever the outcome)."""
        self.challenge_name_input.fill(name)
        self.challenge_name_button.click()

    def cancel_challenge(self, other: Player) -> None:
        self.page.get_by_role("button", name=f"Cancel challenge to {other.name}").click()

    def accept(self, other: Player) -> None:
        self.page.get_by_role("button", name=f"Accept challenge from {other.name}").click()

    def decline(self, other: Player) -> None:
        self.page.get_by_role("button", name=f"Decline challenge from {other.name}").click()

    def click_column(self, col: int) -> None:
        """Click the drop button above column ``col`` (0-based; its label counts from 1)."""
        label = re.compile(rf"^Drop in column {col + 1}( \(full\))?$")
        self.page.get_by_role("button", name=label).click()

    def quit_game(self) -> None:
        """Quit, and confirm the forfeit in the dialog."""
        self.page.get_by_role("button", name="Quit", exact=True).click()
        dialog = self.page.get_by_role("dialog", name="Quit and forfeit?")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Forfeit").click()
        expect(dialog).to_be_hidden()

    def tab_to(self, target: Locator, *, backwards: bool = False, presses: int = 12) -> None:
        """Press Tab (or Shift+Tab) until ``target`` has the focus, as a person would."""
        key = "Shift+Tab" if backwards else "Tab"
        for _ in range(presses):
            self.page.keyboard.press(key)
            if target.evaluate("element => element === document.activeElement"):
                return
        # Fails, with a readable message (timeout=0 would mean no timeout: a hang).
        expect(target).to_be_focused(timeout=1)

    def back_to_lobby(self) -> None:
        self.page.get_by_role("button", name="Back to lobby").click()
        expect(self.lobby).to_be_visible()


def _name(who: Player | str) -> str:
    return who if isinstance(who, str) else who.name


def start_game(challenger: Player, challenged: Player) -> None:
    """``challenger`` invites ``challenged``, who accepts; both see the empty board.

    The challenged player is player 1 and moves first.
    """
    expect(challenger.row(challenged)).to_have_attribute("data-state", "AVAILABLE")
    challenger.challenge(challenged)
    expect(challenged.incoming(challenger)).to_contain_text(f"{challenger.name} challenges you")
    challenged.accept(challenger)
    for me, opponent in ((challenger, challenged), (challenged, challenger)):
        expect(me.game).to_be_visible()
        expect(me.by_id("opponent-line")).to_have_text(f"You are playing with {opponent.name}")
        expect(me.filled_cells).to_have_count(0)
    expect(challenged.turn).to_have_text("Your turn")
    expect(challenger.turn).to_have_text(f"{challenged.name}'s turn")


def play_moves(first: Player, second: Player, columns: list[int]) -> None:
    """Alternate clicks, ``first`` starting; after each, wait until both boards show it."""
    players = (first, second)
    done = first.filled_cells.count()
    for index, col in enumerate(columns):
        mover = players[index % 2]
        other = players[(index + 1) % 2]
        expect(mover.turn).to_have_text("Your turn")
        mover.click_column(col)
        done += 1
        expect(mover.filled_cells).to_have_count(done)
        expect(other.filled_cells).to_have_count(done)

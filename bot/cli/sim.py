"""`surveybot sim`: text or call a running bot from the terminal, through its simulator."""

from __future__ import annotations

import click


@click.command("sim")
@click.option(
    "--url",
    default="http://127.0.0.1:5000",
    show_default=True,
    help="A running bot with its simulator on (e.g. `surveybot dev`).",
)
@click.option("--from", "sender", default=None, help="Simulated phone number (made up if omitted).")
@click.option("--phone", is_flag=True, help="Call the bot (keypad answers) instead of texting it.")
@click.option(
    "--whatsapp",
    is_flag=True,
    help="Write as on WhatsApp: quick-reply buttons show as numbers to type.",
)
def sim_command(url: str, sender: str | None, phone: bool, whatsapp: bool) -> None:
    """Text, write on WhatsApp or call the bot from this terminal, through its simulator and
    signed webhooks."""
    from bot.cli.terminal_sim import run_terminal_call, run_terminal_sim

    if phone and whatsapp:
        raise click.UsageError("--phone calls the bot; --whatsapp writes to it: choose one")
    if phone:
        run_terminal_call(url, sender)
    else:
        run_terminal_sim(url, sender, whatsapp=whatsapp)

"""What every sub-command shares: the common options and the exit codes."""

from __future__ import annotations

import argparse

# Exit codes (README, "Command line"): 0 done, 1 refused or not found, 2 bad input or files,
# 3 the data directory is in use by another mentiondesk.
OK, REFUSED, USAGE, LOCKED = 0, 1, 2, 3


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="where the desk is stored (env MENTIONDESK_DATA_DIR)")
    p.add_argument("--rules", help="triage rules file (default ./rules.yaml or the packaged one)")
    p.add_argument("--replies", help="canned replies file (default ./replies.yaml or packaged)")
    p.add_argument("--config", help="config file (env MENTIONDESK_CONFIG)")
    p.add_argument("--agent", help="your name on the audit trail (default: config, then $USER)")

"""A hand-built shop with consent history (times UTC, workspace zone Europe/Paris).

Everyone lives in Lyon (segment ``lyon``). Signed up 2024-01-01 with:

=====  ===================  ============  =====  ===  ===
id     email                phone         email  sms  ads
=====  ===================  ============  =====  ===  ===
C1     Ann.Smith@Gmail.com  +33612345678  yes    yes  yes
C2     bob@example.com                    yes    yes
C3     cat@example.com                    no
C4                          +33698765432  yes    yes  yes
C5     eve@example.com
C6     fay@example.com                    yes    yes
C7     gus@example.com                    yes
=====  ===================  ============  =====  ===  ===

Then: C3 opts in to e-mail (2025-02-01); C5 resubscribes naming no channel (2025-02-01:
restores nothing); C2 unsubscribes from e-mail (2025-03-01) and resubscribes
(2025-06-01); C6 unsubscribes naming no channel (2025-04-01: every channel) and gets a
new version on 2025-05-01 (tier gold) that repeats its e-mail opt-in without renewing it;
C1 unsubscribes from SMS (2025-05-01); C7 opts out of e-mail by the attribute (2025-05-01).
"""

from __future__ import annotations

from pathlib import Path

from microseg import Workspace
from tests.conftest import write

CUSTOMERS = """
customer_id,signup,city,email,phone,email_opt_in,sms_opt_in,ads_opt_in
C1,2024-01-01,Lyon,Ann.Smith@Gmail.com,+33612345678,true,true,true
C2,2024-01-01,Lyon,bob@example.com,,true,true,
C3,2024-01-01,Lyon,cat@example.com,,false,,
C4,2024-01-01,Lyon,,+33698765432,true,true,true
C5,2024-01-01,Lyon,eve@example.com,,,,
C6,2024-01-01,Lyon,fay@example.com,,true,true,
C7,2024-01-01,Lyon,gus@example.com,,true,,
"""

UPDATES = """
customer_id,updated_at,email_opt_in,tier
C3,2025-02-01T10:00:00Z,true,
C6,2025-05-01T10:00:00Z,,gold
C7,2025-05-01T10:00:00Z,false,
"""

EVENTS = """
customer_id,type,timestamp,channel
C5,resubscribe,2025-02-01T10:00:00Z,
C2,unsubscribe,2025-03-01T10:00:00Z,email
C6,unsubscribe,2025-04-01T10:00:00Z,
C1,unsubscribe,2025-05-01T10:00:00Z,sms
C2,resubscribe,2025-06-01T10:00:00Z,email
"""


def consent_shop(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS), valid_from="signup")
    ws.ingest("customers", write(tmp_path / "u.csv", UPDATES))
    ws.ingest("events", write(tmp_path / "e.csv", EVENTS))
    write(ws.path / "segments" / "lyon.yaml", "name: lyon\nrule: {attribute: city, eq: Lyon}")

"""An unchanged Twilio app: the official SDK, credentials from the environment, no base URL and
no custom HTTP client. It sends one message, fetches it and lists the messages to that number,
then prints what it got as JSON. Only the environment decides where its requests go."""

import json
import sys

from twilio.rest import Client

to = sys.argv[1]
client = Client()  # TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN from the environment
created = client.messages.create(to=to, from_="+15005550006", body="zero-code hello from python")
fetched = client.messages(created.sid).fetch()
listed = [m.sid for m in client.messages.list(to=to, limit=50)]
# messaging.twilio.com too: two Messaging Services, listed one per page (v1 paging follows the
# absolute next_page_url the server hands out).
services = [client.messaging.v1.services.create(friendly_name=f"zero-code {to} {i}").sid for i in range(2)]
paged = [s.sid for s in client.messaging.v1.services.list(page_size=1)]
print(json.dumps({"sdk": "twilio-python", "created": created.sid, "fetched_body": fetched.body, "listed": listed,
                  "services": services, "services_paged": paged}))

"""Who may ask, and as whom: the access layer's guards and what they read.

- `guards`:          origin, client address, blacklists (from `blacklist`), rate-limit rules
- `blacklist`:       blacklisted users and addresses, deactivated users: the database's entries, Redis' mirror,
                     each web process' snapshot
- `callers`:         the token's user id, and the permission of a buyer's endpoints (an active account)
- `logins`:          password logins throttled on failures (the API's and the admin's)
- `token_api`:       POST /api/auth/token/ and its refresh
- `purchase_tokens`: the proof of a purchase: an HMAC over order, user and product
- `signals`:         a deactivated or deleted user reaches every web process
- `admin`, `admin_login`: the blacklist's admin, the admin's throttled login page
"""

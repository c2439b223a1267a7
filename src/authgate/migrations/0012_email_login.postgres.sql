-- Sign-in links (AUTHGATE_EMAIL_LOGIN, domain/email_flows.py): email tokens get the purpose `login`.

ALTER TABLE email_tokens DROP CONSTRAINT email_tokens_purpose_check;
ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_purpose_check
    CHECK (purpose IN ('verify_email', 'reset_password', 'change_email', 'login'));

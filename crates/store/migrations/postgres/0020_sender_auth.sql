-- The SPF, DKIM and DMARC results of a received mail (JSON: spf, dkim, dmarc, domain, policy);
-- NULL for sent mail and mail received unchecked.
ALTER TABLE mail_messages ADD COLUMN auth TEXT;

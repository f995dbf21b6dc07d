-- Merged duplicates: the complaint a duplicate was merged into, with its reference (the
-- duplicate is closed; its thread shows on that complaint, where the work goes on). The index
-- finds a complaint's duplicates when its thread is read; it holds only merged complaints.
ALTER TABLE complaints ADD COLUMN merged_into UUID REFERENCES complaints(id);
ALTER TABLE complaints ADD COLUMN merged_into_ref TEXT;
CREATE INDEX complaints_merged_into ON complaints(merged_into) WHERE merged_into IS NOT NULL;

-- A placeholder on branch i17-ops only: version 13 belongs to another part
-- of issue 17 (the physicians' claims), built in parallel. The runner
-- refuses a gap, so this empty step stands in for it until the branches
-- are merged, when it is dropped. It changes nothing.
SELECT 1;

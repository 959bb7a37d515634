"""Long videos analysed as segments and merged into one result per file (docs/analysis-contract.md,
"Segments of long videos").

plan: which videos are segmented, how long each segment is and where its bounds are. records: a run's
segment rows, the prompt context of a segment, storing answers and queuing merges. pieces: the segment files
cut from the proxy (app/media/segments.py) and their media blocks. on_demand: a segmented run's segments
answered with bounded concurrency, then merged. merging: the merge of a (run, type), as the `merge` task.
"""

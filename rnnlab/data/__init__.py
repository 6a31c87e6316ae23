"""The data side of the pipeline, shared by every task: `readers` (file -> Python examples),
`tokenizers` and `subword` (strings -> ids), `batching` (ids -> batch-first tensors),
`series` (time series), `labeled` (the (text, label) data of classify and conditional)."""

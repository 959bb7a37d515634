"""Speech transcripts: subtitles a video already has (subtitles), requests with an estimate (requests), the
`transcribe` task that stages audio (staging), the poller's pass that starts, follows and reads the jobs
(process, fetch), and the transcript in the product: API shapes (store), downloads (formats), search rows
(search_rows), the usage report (usage) and the prompt excerpt the Nova analysis includes (excerpt)."""
from app.services.transcripts.excerpt import (DEFAULT_MAX_TOKENS, TranscriptExcerpt, estimate_tokens, excerpt_tokens,
                                              prompt_excerpt, prompt_tokens_by_file, transcript_excerpt)

__all__ = ["DEFAULT_MAX_TOKENS", "TranscriptExcerpt", "estimate_tokens", "excerpt_tokens", "prompt_excerpt",
           "prompt_tokens_by_file", "transcript_excerpt"]

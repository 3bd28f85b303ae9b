"""Editions: many stored articles as one PDF, made as a job.

``POST /editions`` and ``matbaa edition`` describe an edition (a title and article
ids, or a filter: section, from, to, source); the articles are selected from the
store and laid out as one PDF with a cover, contents, bookmarks and page numbers.
Jobs are rows in the store, so any web process can read their status and progress.

The rooms, in the order an edition goes through them:

- ``spec``: the request, validated, and the articles it selects;
- ``jobs``: job records and their kept pieces in the store's database;
- ``plan``: sections in order, articles cut into parts, where page numbers go;
- ``assemble``: front, parts and page numbers put together (pikepdf);
- ``local``: how an edition is made in one process, and the local job runner
  (MATBAA_JOB_PROCESSES);
- ``tasks``: the same jobs on Celery workers (MATBAA_BROKER_URL), its state machine
  read top to bottom.
"""

from .jobs import Jobs
from .local import LocalJobs, make_edition, run_edition
from .spec import EditionSpec, select_articles

__all__ = ["EditionSpec", "Jobs", "LocalJobs", "make_edition", "run_edition",
           "select_articles"]

"""The Streamlit demo of minions: ``minions app`` (see :func:`minions.app.launch.launch`) or
``streamlit run app/streamlit_app.py``.

Two pages: Ask (one question, in ``streamlit_app.py``, the entry point whose navigation
offers both) and Batch (documents x questions through :func:`minions.batch.batch_async`,
in ``batch_page.py``). The parts they are made of (the background run, the checklist,
the sidebar and Run button both pages share, the document inputs, the views) are plain
modules beside them, testable without a browser.
"""

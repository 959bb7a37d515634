"""The import panel's folder picker: it walks the folders inside LIBRARY_ROOTS as the server lists them, fills
the path field, and the chosen folder imports like a typed one."""
from __future__ import annotations


def test_folder_picker_walks_into_a_folder_and_imports_it(quiet_server, page, shots):
    base = quiet_server.url
    samples = quiet_server.library
    root = samples.parent
    (root / "empty album").mkdir()
    (root / ".hidden").mkdir()
    (root / "<img src=x onerror=alert(1)>").mkdir()

    page.goto(f"{base}/files")
    page.get_by_text("Import a folder to start").wait_for()
    dialog = page.locator("#folder-picker")

    # A typed path the server refuses: the picker says why and starts at the roots.
    page.fill("#import-path", "/etc")
    page.click("#import-browse")
    dialog.locator(".list-group-item", has_text=str(root)).wait_for()
    assert "outside the library roots" in dialog.locator(".folder-message").inner_text()
    dialog.locator("button.list-group-item", has_text=str(root)).click()

    crumbs = dialog.locator(".folder-crumbs [aria-current=location]")
    page.wait_for_function("document.querySelector('#folder-picker .folder-crumbs [aria-current=location]')"
                           "?.textContent === 'library'")
    folders = dialog.locator(".folder-list button .folder-name")
    assert folders.all_inner_texts() == ["<img src=x onerror=alert(1)>", "empty album", "samples"]
    assert dialog.locator(".folder-summary").inner_text() == "No videos or photos directly in this folder."

    # Into the samples, up again, and in once more by keyboard.
    dialog.locator("button.list-group-item", has_text="samples").click()
    page.wait_for_function("document.querySelector('#folder-picker .folder-summary').textContent"
                           ".startsWith('7 videos and photos')")
    assert crumbs.inner_text() == "samples"
    shots("folder-picker", full_page=False)
    dialog.get_by_role("button", name="↑ Up").click()
    page.wait_for_function("document.querySelector('#folder-picker .folder-crumbs [aria-current=location]')"
                           "?.textContent === 'library'")
    dialog.locator("button.list-group-item", has_text="samples").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#folder-picker .folder-crumbs [aria-current=location]')"
                           "?.textContent === 'samples'")
    dialog.get_by_role("button", name="Choose this folder").click()
    dialog.wait_for(state="detached")
    assert page.input_value("#import-path") == str(samples)

    # The chosen path imports like a typed one.
    page.uncheck("#import-proxies")
    page.click("#import-button")
    page.locator(".task-card").filter(has_text="Import").filter(has_text="SUCCEEDED").wait_for(timeout=60_000)
    page.wait_for_function("document.querySelectorAll('#file-rows a.file-name').length === 7")

    # Browse… opens at the folder in the path field.
    page.click("#import-browse")
    page.wait_for_function("document.querySelector('#folder-picker .folder-crumbs [aria-current=location]')"
                           "?.textContent === 'samples'")
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached")
    assert page.locator("img[src='x']").count() == 0
    assert page.problems == [] and page.dialogs == []

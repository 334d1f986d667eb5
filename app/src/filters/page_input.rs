//! The search box's text in a browser (`wasm32` only). A canvas gets key presses but no input
//! method: a commander could not type 社区 into the box, nor paste a grid code. So while the box
//! is open the page's own text field (`#gridwall-input`, hidden under the canvas's search line)
//! has the focus: the browser's input method composes into it and a paste lands in it; the box
//! shows what it holds, Enter searches and Esc closes, as with the desk display's keys. When the
//! box closes the canvas takes the focus back.

use std::cell::RefCell;
use std::rc::Rc;

use bevy::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use super::search::SearchBox;
use crate::map::Search;

/// The longest search text taken from the page (a grid name or code is far shorter).
const MAX_TEXT: usize = 64;

/// What the page's field did since the last frame.
#[derive(Default)]
struct Typed {
    text: Option<String>,
    enter: bool,
    escape: bool,
}

/// The page's field and what it reported (the browser calls back on the one thread).
struct Field {
    input: web_sys::HtmlInputElement,
    typed: Rc<RefCell<Typed>>,
    focused: bool,
}

thread_local! {
    static FIELD: RefCell<Option<Field>> = const { RefCell::new(None) };
}

/// The page's field, made and wired on first use (`None` off a page that lacks one).
fn with_field<R>(f: impl FnOnce(&mut Field) -> R) -> Option<R> {
    FIELD.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = make_field();
        }
        cell.as_mut().map(f)
    })
}

fn make_field() -> Option<Field> {
    let document = web_sys::window()?.document()?;
    let input: web_sys::HtmlInputElement = document.get_element_by_id("gridwall-input")?.dyn_into().ok()?;
    let typed = Rc::new(RefCell::new(Typed::default()));
    let (on_input, on_key) = (typed.clone(), typed.clone());
    let field = input.clone();
    // `input` fires once a composition is committed and after a paste.
    let changed = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        on_input.borrow_mut().text = Some(field.value());
    });
    let keyed = Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(move |e: web_sys::KeyboardEvent| {
        // Enter that ends a composition belongs to the input method, not to the search.
        if e.is_composing() {
            return;
        }
        match e.key().as_str() {
            "Enter" => on_key.borrow_mut().enter = true,
            "Escape" => on_key.borrow_mut().escape = true,
            _ => return,
        }
        e.prevent_default();
    });
    input.add_event_listener_with_callback("input", changed.as_ref().unchecked_ref()).ok()?;
    input.add_event_listener_with_callback("keydown", keyed.as_ref().unchecked_ref()).ok()?;
    // The page lives as long as the app: the callbacks are never removed.
    changed.forget();
    keyed.forget();
    Some(Field { input, typed, focused: false })
}

/// Whether the page's focus is on `input`.
fn has_focus(input: &web_sys::HtmlInputElement) -> bool {
    let active = web_sys::window().and_then(|w| w.document()).and_then(|d| d.active_element());
    active.is_some_and(|a| a.id() == input.id())
}

/// Gives the page's field the focus while the box is open, and takes what was typed into it.
pub(super) fn follow_page_field(mut search: ResMut<SearchBox>, mut run: MessageWriter<Search>) {
    let editing = search.editing;
    let typed = with_field(|f| {
        if editing && !f.focused {
            f.input.set_value("");
            let _ = f.input.focus();
            f.focused = true;
            f.typed.replace(Typed::default());
        } else if editing && !has_focus(&f.input) {
            // A click on the canvas took the focus: the input method goes back to the field.
            let _ = f.input.focus();
        } else if !editing && f.focused {
            let _ = f.input.blur();
            f.focused = false;
            if let Some(canvas) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id("gridwall"))
                .and_then(|c| c.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = canvas.focus();
            }
        }
        f.typed.take()
    });
    let Some(typed) = typed.filter(|_| editing) else { return };
    if let Some(text) = typed.text {
        let text: String = text.chars().filter(|c| !c.is_control()).take(MAX_TEXT).collect();
        if search.text != text {
            search.text = text;
        }
    }
    if typed.enter {
        search.editing = false;
        run.write(Search(search.text.clone()));
    } else if typed.escape {
        search.editing = false;
        search.text.clear();
    }
}

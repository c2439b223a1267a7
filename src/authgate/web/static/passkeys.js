// Passkeys on the pages (handlers/passkey_pages.py): the sign-in page's "Sign in with a passkey" and the account
// page's "Add a passkey". Each form asks the server for options, lets the browser make or use a passkey, puts the
// browser's answer (WebAuthn's JSON) in the form's hidden `credential` field and submits the form as usual.
// Without WebAuthn in the browser, the forms stay hidden.
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function bytes(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(b64 + "===".slice((b64.length + 3) % 4)), (c) => c.charCodeAt(0));
  }

  function text(buffer) {
    let binary = "";
    for (const b of new Uint8Array(buffer)) binary += String.fromCharCode(b);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    return Object.assign({}, json, {
      challenge: bytes(json.challenge),
      user: Object.assign({}, json.user, { id: bytes(json.user.id) }),
      excludeCredentials: (json.excludeCredentials || []).map((c) => Object.assign({}, c, { id: bytes(c.id) })),
    });
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    return Object.assign({}, json, {
      challenge: bytes(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((c) => Object.assign({}, c, { id: bytes(c.id) })),
    });
  }

  function answer(credential) {
    if (credential.toJSON) return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: text(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = text(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = text(r.authenticatorData);
      response.signature = text(r.signature);
      if (r.userHandle) response.userHandle = text(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      response: response,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  function say(form, message) {
    const box = form.querySelector(".passkey-error");
    box.textContent = message;
    box.hidden = !message;
  }

  // The problem's message; a field it names is marked invalid, emptied and focused.
  async function problem(form, response) {
    let body;
    try {
      body = await response.json();
    } catch (e) {
      return "The server did not answer (" + response.status + "). Try again.";
    }
    const error = body.errors && body.errors[0];
    const input = error && form.elements[error.field];
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.value = "";
      input.focus();
    }
    return (error && error.message) || body.detail || body.title;
  }

  function declined(error) {
    if (error && error.name === "NotAllowedError") return "No passkey was used: the request was cancelled or timed out.";
    if (error && error.name === "InvalidStateError") return "This device already holds a passkey for your account.";
    return "Your browser could not use a passkey here" + (error && error.message ? ": " + error.message : ".");
  }

  function wire(form, ceremony) {
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      const field = form.elements.credential;
      if (field.value) return; // the browser's answer is in: post the form
      event.preventDefault();
      say(form, "");
      for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const body = new URLSearchParams(new FormData(form));
        const response = await fetch(form.dataset.options, { method: "POST", body: body, credentials: "same-origin" });
        if (!response.ok) {
          say(form, await problem(form, response));
          return;
        }
        const options = (await response.json()).public_key;
        let credential;
        try {
          credential = await ceremony(options);
        } catch (error) {
          say(form, declined(error));
          return;
        }
        field.value = JSON.stringify(answer(credential));
        for (const input of form.querySelectorAll("input[type=password]")) input.value = "";
        form.submit();
      } catch (error) {
        say(form, "The server could not be reached. Try again.");
      } finally {
        button.disabled = false;
      }
    });
  }

  const login = document.getElementById("passkey-login");
  if (login) wire(login, (options) => navigator.credentials.get({ publicKey: requestOptions(options) }));
  const add = document.getElementById("passkey-add");
  if (add) wire(add, (options) => navigator.credentials.create({ publicKey: creationOptions(options) }));
})();

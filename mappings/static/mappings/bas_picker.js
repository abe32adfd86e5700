// "Pick from BAS…": next to a reference field, lists the elements of the chosen BAS catalog,
// read live from the account's base, and fills the field with the chosen element's Ref_Key.
// The input says where to find the catalog, the account and the name field through data-*
// attributes naming sibling fields (same prefix, e.g. id_mappings-0-…).
(function () {
  "use strict";

  function sibling(input, name) {
    if (!name) return null;
    var prefix = input.id.slice(0, input.id.lastIndexOf(input.dataset.ownName));
    return document.getElementById(prefix + name);
  }

  function attach(input) {
    if (input.dataset.pickerReady) return;
    input.dataset.pickerReady = "1";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button bas-pick";
    button.textContent = input.dataset.label || "Pick from BAS…";
    var list = document.createElement("select");
    list.size = 8;
    list.style.display = "none";
    list.className = "bas-pick-list";
    var status = document.createElement("span");
    status.className = "help bas-pick-status";
    input.after(button, status, list);

    button.addEventListener("click", function () {
      var setField = sibling(input, input.dataset.setField);
      var accountField = sibling(input, input.dataset.accountField);
      var entitySet = setField ? setField.value : input.dataset.set;
      var account = accountField ? accountField.value : input.dataset.account;
      if (!entitySet || !account) {
        status.textContent = input.dataset.needs || "Choose the account and the BAS catalog first.";
        return;
      }
      var query = /^[0-9a-f-]{36}$/i.test(input.value) ? "" : input.value;
      status.textContent = "…";
      var url = input.dataset.url + "?account=" + encodeURIComponent(account) +
        "&set=" + encodeURIComponent(entitySet) + "&q=" + encodeURIComponent(query);
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); })
        .then(function (data) {
          if (data.error) { status.textContent = data.error; return; }
          list.innerHTML = "";
          data.elements.forEach(function (element) {
            var option = new Option(element.name + " — " + element.ref, element.ref);
            option.dataset.name = element.name;
            list.add(option);
          });
          status.textContent = data.elements.length ? "" : "—";
          list.style.display = data.elements.length ? "block" : "none";
        })
        .catch(function (error) { status.textContent = String(error); });
    });

    list.addEventListener("change", function () {
      var option = list.options[list.selectedIndex];
      input.value = option.value;
      var nameField = sibling(input, input.dataset.nameField);
      if (nameField) nameField.value = option.dataset.name;
      list.style.display = "none";
    });
  }

  function attachAll() {
    document.querySelectorAll("input[data-bas-picker]").forEach(attach);
  }

  document.addEventListener("DOMContentLoaded", attachAll);
  document.addEventListener("formset:added", attachAll);
})();
